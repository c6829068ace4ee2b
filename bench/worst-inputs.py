#!/usr/bin/env python3
"""Writes the worst-case request bodies used by bench/worst-request.sh and bench/soak.sh into a
folder: 1 MiB texts built from the inputs of issue 10 (U+FDFA, combining accents, literal [UNK],
ordinary English with one accent) and random Unicode, as text/plain, plus a JSON body and a
batch of the same size."""
import json, os, random, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
MB = 1 << 20

def fill(unit):
    b = unit.encode()
    return (b * (MB // len(b)))[: MB // len(b) * len(b)]

rng = random.Random(10)
def random_unicode():
    chars = []
    size = 0
    while size < MB - 8:
        cp = rng.randrange(0x20, 0x30000)
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        chars.append(c)
        size += len(c.encode())
        if rng.random() < 0.15:
            chars.append(" ")
            size += 1
    return "".join(chars).encode()

bodies = {
    "fdfa": fill("\ufdfa"),
    "fdfa-words": fill("\ufdfa "),
    "fdfa-punct": fill("\ufdfa\ufdfa\ufdfa."),
    "fdfa-run": fill("\ufdfa" * 5000 + " "),
    "accents": fill("e\u0300 "),
    "unk": fill("[UNK] "),
    "english-one-accent": fill("Ordinary English text about open and closed models, " * 40)[: MB - 2] + "\u00e9".encode(),
    "punct": fill("! "),
    "random-unicode": random_unicode(),
}
for name, body in bodies.items():
    with open(os.path.join(out, name + ".txt"), "wb") as f:
        f.write(body)
text = bodies["fdfa-words"].decode()[: MB // 2 - 100]
with open(os.path.join(out, "json-fdfa.json"), "w") as f:
    json.dump({"text": text, "explain": 100}, f, ensure_ascii=False)
doc = "\ufdfa e\u0300 " * 300
with open(os.path.join(out, "batch.json"), "w") as f:
    json.dump({"texts": [doc] * 256, "explain": 10}, f, ensure_ascii=False)
