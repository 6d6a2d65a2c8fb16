"""The saga's entry points: the faust stream processor that starts and resumes sagas."""
