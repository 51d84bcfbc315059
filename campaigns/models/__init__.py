"""Models of the campaigns app, one module per sub-domain.

- ``frequency``: frequency rules, promotion periods, counters, opt-outs     [frequency issue]
- ``audience``: customers, purchases, segments, coupons                    [campaigns issue]
- ``sending``: campaigns, messages, delivery reports                       [campaigns issue]
- ``gateway``: inbound messages (MO) received through Kannel               [gateway issue]
Each module's models are imported here so Django finds them.
"""

from campaigns.models.audience import Coupon, Customer, Purchase, Segment  # noqa: F401, E402
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
from campaigns.models.sending import (  # noqa: F401, E402
    Campaign,
    CampaignRun,
    DeliveryReport,
    Message,
    PlanBatch,
    VerifiedPhone,
)
