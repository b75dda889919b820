"""Development aids: the demo, the local SMTP catcher, Chromium screenshots and the
manual's generated reference sections."""
