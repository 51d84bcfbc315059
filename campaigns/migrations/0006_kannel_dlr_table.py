"""Kannel's delivery-report table (``dlr-storage = pgsql``), kept in the app's PostgreSQL.

Kannel's default (internal) DLR storage lives in bearerbox's memory: a restart
forgets which SMSC message id belongs to which of our messages, and reports that
arrive afterwards are dropped. With this table (see scripts/kannel/kannel-dlr-pgsql.conf.in)
they survive restarts. Kannel reads and writes it itself; no Django model maps it.
"""

from django.db import migrations

CREATE = """
CREATE TABLE IF NOT EXISTS kannel_dlr (
    smsc varchar(40),
    ts varchar(65),
    destination varchar(40),
    source varchar(40),
    service varchar(40),
    url text,
    mask integer,
    status integer,
    boxc varchar(40)
);
-- Kannel looks a report's entry up by WHERE smsc = ? AND ts = ? (ts is the SMSC's message id).
CREATE INDEX IF NOT EXISTS kannel_dlr_smsc_ts ON kannel_dlr (smsc, ts);
"""


class Migration(migrations.Migration):

    dependencies = [
        ("campaigns", "0005_pipeline_schedules"),
    ]

    operations = [
        migrations.RunSQL(CREATE, reverse_sql="DROP TABLE IF EXISTS kannel_dlr;"),
    ]
