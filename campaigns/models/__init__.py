"""Models of the campaigns app, one module per sub-domain.

- ``audience``: customers, purchases, segments, coupons
- ``sending``: campaigns, runs, messages, delivery reports, verified test phones
- ``frequency``: frequency rules, promotion periods, counters, opt-outs
- ``gateway``: inbound messages (MO) received through Kannel
- ``imports``: customer imports (the job, the uploaded file's chunks, the checked rows)
- ``links``: clicks of short links, link previewers, allowed landing domains
- ``orders``: the shops' orders and their attribution to messages
- ``api``: the open API's keys and idempotency records
- ``webhooks``: the shops' webhook endpoints, their events, deliveries and attempts
- ``counters``: a campaign's results kept up to date per run, day and status (and per hour)
Each module's models are imported here so Django finds them.
"""

from campaigns.models.api import ApiKey, ApiScope, IdempotencyRecord  # noqa: F401
from campaigns.models.audience import Coupon, Customer, Purchase, Segment  # noqa: F401
from campaigns.models.counters import (  # noqa: F401
    AttributedMessage,
    ClickCounter,
    ClickedMessage,
    HoldoutCounter,
    HoldoutRecipient,
    HoldoutRun,
    HourCounter,
    MessageCounter,
    OrderCounter,
)
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
from campaigns.models.links import Click, LandingDomain, LinkPreviewerAgent  # noqa: F401
from campaigns.models.orders import Order  # noqa: F401
from campaigns.models.sending import (  # noqa: F401
    AbMetric,
    ArchivedMonth,
    Campaign,
    CampaignRun,
    CampaignVariant,
    DeliveryReport,
    Message,
    MessageArchive,
    PlanBatch,
    VerifiedPhone,
)
from campaigns.models.webhooks import (  # noqa: F401
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookEventType,
)
