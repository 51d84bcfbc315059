"""Models of the campaigns app, one module per sub-domain.

- ``audience``: customers, purchases, segments, coupons
- ``sending``: campaigns, runs, messages, delivery reports, verified test phones
- ``frequency``: frequency rules, promotion periods, counters, opt-outs
- ``gateway``: inbound messages (MO) received through Kannel
- ``imports``: customer imports (the job, the uploaded file's chunks, the checked rows)
Each module's models are imported here so Django finds them.
"""

from campaigns.models.audience import Coupon, Customer, Purchase, Segment  # noqa: F401
from campaigns.models.frequency import (  # noqa: F401
    FrequencyRule,
    MessageClass,
    OptOut,
    OptOutEvent,
    OptOutKeyword,
    PlatformCounter,
    PromotionPeriod,
    RuleSet,
    ShopCounter,
)
from campaigns.models.gateway import InboundMessage  # noqa: F401
from campaigns.models.imports import CustomerImport, CustomerImportChunk, CustomerImportRow  # noqa: F401
from campaigns.models.sending import (  # noqa: F401
    Campaign,
    CampaignRun,
    DeliveryReport,
    Message,
    PlanBatch,
    VerifiedPhone,
)
