"""Who may see and do what: the projects and channels the bot serves, people of other organizations, and
the operators who may start and stop deployments. ``Access`` is the one place each rule is decided;
docs/security.md lists the rules, their settings and the tests that prove them."""

from bot.access.gate import Access
from bot.access.operators import Operators
from bot.access.policy import AccessDenied, AccessProblem, Organization, actor_organization

__all__ = ["Access", "AccessDenied", "AccessProblem", "Operators", "Organization", "actor_organization"]
