"""Import a shop's customers and purchases from a CSV file.

    python manage.py import_customers SHOP_ID FILE

Prints progress, then every rejected row (line number and reason) and a
summary. Exits 0 when every row was imported, 1 when some were rejected,
2 when the file could not be imported at all.
"""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.importing import ImportFileError, customers_import
from smsmarketing.errors import SmsError
from smsmarketing.models import Shop


class Command(BaseCommand):
    help = "导入客户与购买记录（CSV）：import_customers 店铺ID 文件"

    def add_arguments(self, parser):
        parser.add_argument("shop", type=int, help="店铺 ID")
        parser.add_argument("file", help="CSV 文件路径（UTF-8 或 GBK）")
        parser.add_argument("--quiet-progress", action="store_true", help="不显示进度")

    def handle(self, *args, shop: int, file: str, quiet_progress: bool = False, **options):
        found = Shop.objects.select_related("category").filter(pk=shop).first()
        if found is None:
            raise CommandError(f"店铺 {shop} 不存在")
        if not os.path.isfile(file):
            raise CommandError(f"文件不存在：{file}")
        size = os.path.getsize(file) or 1
        # On a terminal one line is rewritten in place; redirected to a file or a log, a whole line
        # is written for every tenth of the file instead (a "\r" would run into the next line).
        on_terminal = self.stderr.isatty()
        last_tenth = -1

        def progress(rows: int, position: int) -> None:
            nonlocal last_tenth
            if quiet_progress:
                return
            percent = min(100, 100 * position // size)
            if on_terminal:
                self.stderr.write(f"\r已读取 {rows:,} 行（{percent}%）", ending="")
                self.stderr.flush()
            elif percent // 10 > last_tenth:
                last_tenth = percent // 10
                self.stderr.write(f"已读取 {rows:,} 行（{percent}%）")

        def rejected(rejection) -> None:
            self.stdout.write(f"第 {rejection.line} 行：{rejection.reason} {rejection.message}")

        try:
            with open(file, "rb") as stream:
                report = customers_import(
                    shop=found, stream=stream, on_progress=progress, on_rejection=rejected
                )
        except (ImportFileError, SmsError) as exc:
            self.stderr.write(f"{chr(10) if on_terminal else ''}导入失败：{exc.message}")
            sys.exit(2)
        if on_terminal and not quiet_progress:
            self.stderr.write("")
        self.stdout.write(
            f"共 {report.rows} 行：导入 {report.imported} 行，拒绝 {report.rejected} 行；"
            f"新客户 {report.customers_created} 位，新购买记录 {report.purchases_created} 条"
            f"（编码 {report.encoding}）。"
        )
        if report.rejected:
            sys.exit(1)
