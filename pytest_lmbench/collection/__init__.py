"""How suite files become pytest items, which run, and on which xdist worker."""
