"""Labels: which photos get labelled (curated, random, representative) and the review tool to choose them."""
