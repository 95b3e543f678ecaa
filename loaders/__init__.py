"""Reading and validating the contract's input tables with Polars."""
