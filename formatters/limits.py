"""Block Kit and message limits, one constant each.

Documented limits come from Slack's Block Kit reference. Two are enforced by Slack without being documented:
``msg_blocks_too_long`` (all text in one message's blocks together, about 12,000 characters) and
``msg_too_long`` (the top-level ``text``, 4,000). slack_sdk checks some limits only on its block classes, never
on plain dicts, so the formatters enforce them from here.
"""

MAX_BLOCKS_PER_MESSAGE = 50
MAX_BLOCKS_PER_VIEW = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ID_LENGTH = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_VIEW_TITLE = 24
# A confirmation dialog's title, text and button labels.
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30

# Undocumented: Slack answers msg_blocks_too_long at about 12,000; we keep a margin.
MESSAGE_BLOCKS_TEXT_BUDGET = 11_000
# Undocumented: Slack answers msg_too_long past 4,000 characters of top-level text.
MAX_MESSAGE_TEXT = 4000
