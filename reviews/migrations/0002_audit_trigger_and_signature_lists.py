"""The audit trail is append-only in the database too; seed the signature word lists."""

from django.db import migrations

NEUTRAL_NAMES = [
    "政务短信", "政务通知", "验证码", "客服通知", "系统通知", "温馨提示",
    "短信通知", "通知短信", "系统消息", "官方通知", "客服中心", "会员中心", "物流通知", "商城",
]
PLATFORM_BRAND_TERMS = ["京东", "京東", "jd", "jingdong"]

IMMUTABLE_SQL = """
CREATE OR REPLACE FUNCTION reviews_decision_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'reviews_reviewdecision is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER reviews_decision_no_update_or_delete
    BEFORE UPDATE OR DELETE ON reviews_reviewdecision
    FOR EACH ROW EXECUTE FUNCTION reviews_decision_immutable();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS reviews_decision_no_update_or_delete ON reviews_reviewdecision;
DROP FUNCTION IF EXISTS reviews_decision_immutable();
"""


def seed(apps, schema_editor):
    NeutralName = apps.get_model("reviews", "NeutralName")
    PlatformBrandTerm = apps.get_model("reviews", "PlatformBrandTerm")
    for term in NEUTRAL_NAMES:
        NeutralName.objects.get_or_create(term=term)
    for term in PLATFORM_BRAND_TERMS:
        PlatformBrandTerm.objects.get_or_create(term=term)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0001_initial")]

    operations = [
        migrations.RunSQL(IMMUTABLE_SQL, DROP_SQL),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
