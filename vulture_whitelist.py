"""Names that frameworks call or read by name, so vulture cannot see them used.

Functions registered by a decorator (click commands, pydantic validators, pytest fixtures)
are left out by `ignore_decorators` in pyproject.toml; this file is for the rest. Add a
name here only when something outside our code looks it up by that name.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# click: the group callback hands the Context (config, secrets, engine) to every command
# through ctx.obj.
_.obj

# pydantic: model settings and the `cls` of @field_validator / @model_validator classmethods.
_.model_config
_.cls

# sqlalchemy TypeDecorator (db.UTCDateTime).
_.impl
_.cache_ok
_.process_bind_param
_.process_result_value

# html.parser.HTMLParser callbacks (content.markup, tests).
_.handle_starttag
_.handle_startendtag
_.handle_endtag
_.handle_data
_.handle_comment

# aiosmtpd handler hook (dev.catcher).
_.handle_DATA

# jinja templates: templates/archive/*.html.j2 call item.date_label(language).
_.date_label

# pytest: hooks and module marks read by name; a fixture requested only for its effect.
_.pytest_terminal_summary
_.pytest_runtest_setup
_.pytest_runtest_logreport
_.pytest_runtest_teardown  # the running test's markers, for tests/servers.py's guard
_.pytestmark
_.project

# syrupy snapshot extensions (tests/issues/test_email.py).
_.file_extension

# uvicorn.Server polls should_exit (tests/conftest.py LiveServer).
_.should_exit

# prometheus_client calls a registered Collector's collect() at each scrape (sending.metrics).
_.collect

# pygal reads chart attributes set after construction (web.admin.charts).
_.uuid
_.x_labels

# A sender process starts as `python -c "...child_main(fd)"` (sending.senders).
_.child_main

# markdown-it calls StateInline.scanDelims from its emphasis rules (content.cjk_emphasis).
_.scanDelims

# pytest calls these hooks by name (tests/conftest.py: tests never write into tests/data).
_.pytest_sessionstart
_.pytest_sessionfinish
_.exitstatus
_.pytest_collection_modifyitems

# http.server: the handler methods it calls by name and the server's thread switch
# (tests/webhooks/receiver.py, the webhook receiver on loopback).
_.do_POST
_.log_message
_.daemon_threads
_.request_queue_size
_.protocol_version
_.disable_nagle_algorithm

# pydantic: fields of the API's answers (publisher.web.api.models), read by model_dump and
# the OpenAPI document, not by name.
_.requested
_.next_cursor
_.duration_seconds
_.limits

# feedgen extensions (site.feeds._History): feedgen calls these while it writes a feed.
_.extend_ns
_.extend_atom
_.extend_rss
