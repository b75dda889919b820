"""Rendering the email, MIME and personalisation (prepared once per send down to the bytes
after DATA), DKIM signing, the SMTP transport, deliverability checks, Message-IDs."""
