"""Settings of a real django-q2 cluster in the fault tests: asynchronous, one worker, short
timeout and retry so a task whose worker was killed is re-delivered within seconds."""

from smsmarketing.settings_test import *  # noqa: F403
from smsmarketing.settings_test import Q_CLUSTER, SMS_PIPELINE

Q_CLUSTER = {**Q_CLUSTER, "sync": False, "workers": 1, "timeout": 6, "retry": 8, "poll": 0.2}
SMS_PIPELINE = {**SMS_PIPELINE, "TASK_TIME_BUDGET": 4}
