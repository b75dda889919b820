"""publisher: a Markdown digest becomes an HTML email, feeds, a web archive and a durable send."""

__version__ = "0.1.0"
