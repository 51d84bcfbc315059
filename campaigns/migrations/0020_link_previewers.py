"""Seed the link previewers (user-agent fragments of chat apps' and carriers' link previews, and of
scripted clients no person taps an SMS link with) and the platform's landing domain; both are
data, edited in the admin."""

from django.db import migrations

# (pattern, note): matched case-insensitively anywhere in the User-Agent, besides what ua-parser
# recognises as a spider (Googlebot, Baiduspider, Bytespider, most previewers too).
PREVIEWERS = [
    ("WhatsApp", "WhatsApp 链接预览"),
    ("TelegramBot", "Telegram 链接预览"),
    ("Slackbot", "Slack 链接预览"),
    ("facebookexternalhit", "Facebook、Messenger、iMessage 链接预览"),
    ("Facebot", "Facebook、iMessage 链接预览"),
    ("Twitterbot", "X (Twitter)、iMessage 链接预览"),
    ("Discordbot", "Discord 链接预览"),
    ("LinkedInBot", "LinkedIn 链接预览"),
    ("SkypeUriPreview", "Skype、Teams 链接预览"),
    ("BingPreview", "必应预览"),
    ("Iframely", "链接卡片服务"),
    ("Embedly", "链接卡片服务"),
    ("QQ-URL-Manager", "QQ 链接安全检查"),
    ("HeadlessChrome", "无界面浏览器（自动程序）"),
    ("curl/", "命令行工具"),
    ("Wget/", "命令行工具"),
    ("python-requests", "脚本"),
    ("python-urllib", "脚本"),
    ("Go-http-client", "脚本"),
    ("okhttp", "应用内的链接预览（非浏览器）"),
    ("Apache-HttpClient", "脚本"),
]
# The platform's own shop and coupon pages.
LANDING_DOMAINS = [("jd.com", True, "平台店铺与商品页")]


def seed(apps, schema_editor):
    LinkPreviewerAgent = apps.get_model("campaigns", "LinkPreviewerAgent")
    LandingDomain = apps.get_model("campaigns", "LandingDomain")
    for pattern, note in PREVIEWERS:
        LinkPreviewerAgent.objects.get_or_create(pattern=pattern, defaults={"note": note})
    for domain, subdomains, note in LANDING_DOMAINS:
        LandingDomain.objects.get_or_create(domain=domain, defaults={"subdomains": subdomains, "note": note})


def unseed(apps, schema_editor):
    apps.get_model("campaigns", "LinkPreviewerAgent").objects.filter(pattern__in=[p for p, _ in PREVIEWERS]).delete()
    apps.get_model("campaigns", "LandingDomain").objects.filter(domain__in=[d for d, *_ in LANDING_DOMAINS]).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0019_orders_feed_purchases")]

    operations = [migrations.RunPython(seed, unseed)]
