"""Image metrics: full-reference / no-reference (image), aligned targets (aligned), colour (colour),
detail (detail), OCR text (text)."""
