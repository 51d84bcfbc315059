"""Import a shop's orders from a CSV file.

    python manage.py import_orders SHOP_ID FILE

Columns (Chinese or English headers): 订单号/order_no, 手机号/phone, 金额/amount, 下单时间/placed_at
(required), 优惠券码/coupon_code, 商品/product. UTF-8 with or without BOM, or GBK. The same order
number again updates the order. Prints every rejected line (its number, code and the reason the
merchant reads) and a summary. Exits 0 when every line was imported, 1 when some were rejected,
2 when the file could not be imported at all (nothing imported).
"""

from __future__ import annotations

import os
import sys

from django.core.management.base import BaseCommand, CommandError

from campaigns.services.importing import ImportFileError
from campaigns.services.orders import orders_import
from smsmarketing.models import Shop


class Command(BaseCommand):
    help = "Import a shop's orders (CSV): import_orders SHOP_ID FILE"

    def add_arguments(self, parser):
        parser.add_argument("shop", type=int, help="shop id")
        parser.add_argument("file", help="CSV file (UTF-8 or GBK)")

    def handle(self, *args, shop: int, file: str, **options):
        found = Shop.objects.filter(pk=shop).first()
        if found is None:
            raise CommandError(f"Shop {shop} does not exist")
        if not os.path.isfile(file):
            raise CommandError(f"No such file: {file}")
        try:
            with open(file, "rb") as stream:
                result = orders_import(shop=found, stream=stream)
        except ImportFileError as exc:
            self.stderr.write(f"Nothing imported: {exc.message}")
            sys.exit(2)
        report = result.report
        for rejection in report.rejected:
            self.stdout.write(f"line {rejection.line}: {rejection.code} {rejection.message}")
        self.stdout.write(
            f"{result.rows} lines: {report.created} orders created, {report.updated} updated, "
            f"{len(report.rejected)} rejected (encoding {result.encoding})."
        )
        if report.rejected:
            sys.exit(1)
