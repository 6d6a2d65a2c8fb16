"""The read side (CQRS): order summaries per customer and stock levels, projected from the event log."""
