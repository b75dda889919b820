"""What a refused form field's page says: its heading and the line that names the fault.

Keyed by the field and kind a `RejectedInput` carries (subscribers.addresses and
web.choices raise them); each msgid is written out so that extraction finds it.
"""

from __future__ import annotations

from publisher.i18n import N_

# The heading of the page that refuses a field.
INVALID_TITLES = {
    "email": N_("Please check the address"),
    "name": N_("Please check the name"),
    "topics": N_("Please check the topics"),
    "timezone": N_("Please check the time zone"),
    "language": N_("Please check the language"),
}
# The line that says what is wrong with it.
PROBLEM_TEXTS = {
    ("email", "required"): N_("Email address: please enter one."),
    ("email", "control"): N_("Email address: it contains control or invisible characters; please "
                             "type it again."),
    ("email", "too_long"): N_("Email address: it is too long (254 characters at most)."),
    ("email", "fullwidth_at"): N_("Email address: the @ is a full-width character (＠); please "
                                  "type a regular @."),
    ("email", "no_at"): N_("Email address: the @ is missing."),
    ("email", "non_ascii_local"): N_("Email address: it uses non-Latin characters before the @, "
                                     "which our mail server cannot deliver yet. Please use an "
                                     "address with only Latin letters, digits and symbols before "
                                     "the @."),
    ("email", "double_dot"): N_("Email address: it has two dots in a row (..)."),
    ("email", "local"): N_("Email address: the part before the @ is not valid; check for a typo "
                           "or a stray character."),
    ("email", "domain"): N_("Email address: the part after the @ is not a valid domain (like "
                            "example.com); check for a typo."),
    ("email", "syntax"): N_("Email address: this does not look like a valid address; check for a "
                            "typo."),
    ("name", "control"): N_("Name: it contains control or invisible characters."),
    ("name", "too_long"): N_("Name: it is too long (100 characters at most)."),
    ("name", "link"): N_("Name: it must not contain an email address or a link."),
    ("name", "mixed_scripts"): N_("Name: it mixes letters of different alphabets (such as Latin "
                                  "and Cyrillic), a trick used to impersonate others. Please "
                                  "write it in one alphabet."),
    ("language", "unknown"): N_("Language: choose one of the languages listed."),
    ("topics", "unknown"): N_("Topics: choose only among the topics listed."),
    ("timezone", "unknown"): N_("Time zone: this is not a time zone we know; choose one from the "
                                "list (such as Europe/Berlin), or leave it unset."),
}
