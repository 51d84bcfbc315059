"""Models of the reviews app, one module per sub-domain.

- ``review``: the shared review machinery (FSM states, decisions audit);
- ``signatures``: Signature and its word lists;
- ``policy``: content-policy word lists and variables;
- ``confusables``: look-alike/homophone spellings of listed words (the evasion matcher's table);
- ``templates``: MessageTemplate.
Each module's models are imported here so Django finds them.
"""

from reviews.models.confusables import (  # noqa: E402,F401
    Confusable,
    ConfusableKind,
    ConfusableRevision,
    ConfusableTable,
)
from reviews.models.patterns import (  # noqa: E402,F401
    ContentPattern,
    PatternRevision,
    ProposalKind,
    ProposalStatus,
    RuleProposal,
)
from reviews.models.policy import (  # noqa: E402,F401
    Severity,
    TemplateVariable,
    WordList,
    WordListException,
    WordListRevision,
    WordListTerm,
)
from reviews.models.review import (  # noqa: E402,F401
    RejectReason,
    ReviewAction,
    ReviewDecision,
    ReviewedItem,
    ReviewState,
)
from reviews.models.signatures import NeutralName, PlatformBrandTerm, Signature  # noqa: E402,F401
from reviews.models.templates import MessageTemplate, OfficialTemplate, TemplateOrigin  # noqa: E402,F401
