"""App Home: what one person has to do and watch, and publishing it."""
