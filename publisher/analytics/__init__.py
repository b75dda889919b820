"""Knowing what readers read without watching any one of them: feed readership and archive
page views as counters per day, never a row per person.

`user_agents` and `access_log` are pure parsers, `site_paths` says which URL is a feed or an
issue page, `tally` turns one request into counter increments (holding the day's salt in
memory only), `counters` owns the tables that keep the counts, `figures` reads them back,
and `ingest` feeds an nginx access log through the same tally.
"""
