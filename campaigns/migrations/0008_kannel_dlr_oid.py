"""Give ``kannel_dlr`` an ``oid`` column.

Kannel 1.4.5 updates and deletes its delivery-report rows with
``WHERE oid = (SELECT oid FROM kannel_dlr WHERE smsc = … AND ts = … LIMIT 1)``,
written for PostgreSQL's old hidden ``oid`` system column, which PostgreSQL 12
removed. Without a real column of that name every such statement fails
("column oid does not exist"): finished entries are never deleted, the table
grows forever, and an SMSC that reuses a message id sends its report to an old
message. A plain column named ``oid`` (allowed since PostgreSQL 12) makes the
statements work again.
"""

from django.db import migrations

ADD = """
ALTER TABLE kannel_dlr ADD COLUMN IF NOT EXISTS oid bigserial;
-- Kannel's UPDATE/DELETE … WHERE oid = (…) looks rows up by it.
CREATE UNIQUE INDEX IF NOT EXISTS kannel_dlr_oid ON kannel_dlr (oid);
"""

REMOVE = """
DROP INDEX IF EXISTS kannel_dlr_oid;
ALTER TABLE kannel_dlr DROP COLUMN IF EXISTS oid;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0007_resume_runs_schedule"),
    ]

    operations = [migrations.RunSQL(ADD, reverse_sql=REMOVE)]
