"""Knowing what readers read without watching any one of them: feed readership, archive
page views and clicks on emails' links as counters per day, never a row per person.

`user_agents` and `access_log` are pure parsers, `site_paths` says which URL is a feed or an
issue page, `tally` turns one request into counter increments (holding the day's salt in
memory only), `links` finds and numbers an email's links and points them at the click
counter (pure), `click_tally` counts clicks and tells prefetches apart (holding the prefetch
salt in memory only), `counters` owns the tables that keep the counts, `figures` reads them
back, and `ingest` feeds an nginx access log through the same tally.
"""
