"""The subscriber store (the only writer of subscriber rows, each change with its event row)
and everything about a person: addresses, CSV files, other tools' exports read and written,
confirmation, bounces, the read-only activity views the console and metrics use, audience
expressions as SQL."""
