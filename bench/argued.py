"""The dev-set genres whose pro-open and pro-closed excerpts count as argued opinion pieces, for the
"argued excerpts scored neutral" target of issue 8. One definition, read by bench/quality.sh and
bench/model_probe.py, so the two tables count the same excerpts."""
OPINION_GENRES = frozenset({"op-ed", "personal-blog", "company-blog", "newsletter", "policy", "open-letter", "interview"})
