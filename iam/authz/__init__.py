"""Access decisions for the shared patient record: Casbin policy, policy information point, AuthZEN API.

Where things are decided, in one guess:

* ``policy.py``      Casbin model and policy (``policies/``) loaded, checked and compiled into indexes
* ``conditions.py``  the context conditions the policy names (care relationship, restrictions, ...)
* ``engine.py``      ``DecisionEngine.decide(request) -> Decision``
* ``pip.py``         the facts a decision needs, cached with change-bus invalidation
* ``pdp.py``         decide and write every decision to the access log before answering
* ``authzen.py``     OpenID AuthZEN 1.0 shapes (no web framework); ``routes.py`` binds them to HTTP
* ``service.py``     care relationships, teams, restrictions, consents, flags; ``facts_routes.py`` their API
* ``emergency.py``   break the glass
* ``search.py``      AuthZEN search; ``trace.py`` the full reasoning of one decision (``iam policy explain``)
* ``publication.py`` publishing a policy to every node; ``decision_tables.py`` policy test suites
"""

from iam.authz.engine import DecisionEngine, InvalidDecisionRequest
from iam.authz.model import Decision, DecisionRequest, SubjectRef

__all__ = ["Decision", "DecisionEngine", "DecisionRequest", "InvalidDecisionRequest", "SubjectRef"]
