"""The read side's entry points: the faust projection, the query API, and the rebuild command."""
