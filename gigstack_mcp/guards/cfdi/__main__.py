"""`python -m gigstack_mcp.guards.cfdi > docs/guard-rails.md`"""

from .docs import rules_markdown

print(rules_markdown(), end="")
