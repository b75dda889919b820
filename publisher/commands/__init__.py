"""One module per group of CLI verbs; each exports COMMANDS."""
