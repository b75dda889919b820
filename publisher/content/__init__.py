"""Issue files to `Issue` objects; Markdown to sanitised HTML and plain text; audience
expressions parsed; another tool's post to an issue file's text."""
