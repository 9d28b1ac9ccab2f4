"""MinAtar's games (Young & Tian 2019) as reverie worlds: Breakout, batched and seeded."""
