"""Check texts against the content rules, from the command line.

    python manage.py check_content --kind {signature,template,text} [--signature SIG] [--json] [TEXT]

With no TEXT, texts are read from standard input, one per line (empty lines
are skipped). ``--json`` prints one JSON object per text, in order:
``{"text", "ok", "findings": [{"rule","start","end","severity","message","hint"[,"list_version"]}],
"length", "parts"}``. Exit status: 0 when no text is blocked, 1 when one is,
2 on a usage error.
"""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from reviews.checking import KINDS, UnknownKind, check_text
from reviews.choices import ContentKind
from reviews.policy.checker import CheckResult, content_policy

EXIT_BLOCKED = 1
EXIT_USAGE = 2


class Command(BaseCommand):
    help = "按内容规则检查签名、模板或短信文本；有阻断问题时退出码为 1。"
    stealth_options = ("stdin",)  # tests pass a file-like object instead of sys.stdin

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kind", required=True, choices=KINDS, help="检查类型")
        parser.add_argument("--signature", help="用于计算整条短信长度的签名（模板/文本）")
        parser.add_argument("--json", action="store_true", help="每个文本输出一行 JSON")
        parser.add_argument("text", nargs="?", help="要检查的文本；省略时从标准输入逐行读取")

    def handle(self, *args, **options) -> None:
        if options["text"] is not None:
            texts = [options["text"]]
        else:
            stdin = options.get("stdin") or sys.stdin
            texts = [line.rstrip("\r\n") for line in stdin]
            texts = [t for t in texts if t.strip()]
        blocked = 0
        # One policy (word lists, patterns, variables) for every text of this run.
        policy = content_policy() if texts and options["kind"] != ContentKind.SIGNATURE else None
        for text in texts:
            try:
                result = check_text(
                    kind=options["kind"], text=text, signature=options["signature"], policy=policy
                )
            except UnknownKind as exc:
                message = f"暂不支持的检查类型 {options['kind']}：{exc}"
                raise CommandError(message, returncode=EXIT_USAGE) from exc
            blocked += not result.ok
            self._write(text, result, as_json=options["json"])
        if blocked:
            raise CommandError(f"{blocked} 个文本未通过检查。", returncode=EXIT_BLOCKED)

    def _write(self, text: str, result: CheckResult, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(result.as_dict(text=text), ensure_ascii=False))
            return
        mark = "通过" if result.ok else "阻断"
        extra = ""
        if result.length is not None:
            extra = f"（{result.length} 字，{result.parts} 条计费）"
        self.stdout.write(f"[{mark}] {text}{extra}")
        for f in result.findings:
            self.stdout.write(f"  {f.rule} [{f.start},{f.end}) {f.severity}: {f.message} 建议：{f.hint}")
