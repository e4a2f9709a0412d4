"""The core room: what every other room may use and that knows nothing of tasks or HTTP.

Settings (one small class per concern, and the rules across them), the error tree, the
platform's names (enums), the Redis key space, the clock, structured logging with personal-data
scrubbing, the SQL database (models, sessions, migrations) and bearer tokens.
"""

__all__ = [
    "clock",
    "db",
    "enums",
    "errors",
    "keys",
    "logging",
    "masking",
    "security",
    "settings",
    "settings_rules",
]
