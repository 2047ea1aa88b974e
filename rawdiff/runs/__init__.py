"""The life of a trained network: cache key, run.json, get-or-train, load and discovery (one format for the
notebooks' cache and ``rawdiff train``)."""
