"""The build, feeds and web archive; other tools' post archives into a folder of issue
files."""
