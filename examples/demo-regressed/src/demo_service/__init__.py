"""A tiny service the example release gate runs over."""
