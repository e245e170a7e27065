"""Collection strategies: segments chosen by SQL conditions over the account feature view, the timed
treatment paths they lead to, and champion/challenger experiments. See docs/strategy.md."""
