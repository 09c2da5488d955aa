"""The diagnosis itself: one module per guide chapter, run in file-name order."""
