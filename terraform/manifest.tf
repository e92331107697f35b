# The one definition of resources: every shared/resources/*.json fragment merged, exactly as
# shared/resources/__init__.py merges them. Everything below iterates over these locals, so a
# function, table, topic, subscription, bucket or schedule added to any fragment is deployed
# without editing Terraform. This file only uses built-in functions (tests evaluate it with
# `terraform console`, which needs no provider).

locals {
  resources_dir = "${path.module}/../shared/resources"
  fragments = [
    for name in sort(fileset(local.resources_dir, "*.json")) :
    jsondecode(file("${local.resources_dir}/${name}"))
  ]

  datasets = { for d in flatten([for f in local.fragments : try(f.datasets, [])]) : d.id => d }

  tables = {
    for t in flatten([for f in local.fragments : try(f.tables, [])]) : t.name => {
      dataset        = t.dataset
      description    = try(t.description, "")
      schema_file    = t.schema
      schema         = file("${local.resources_dir}/${t.schema}")
      columns        = [for c in jsondecode(file("${local.resources_dir}/${t.schema}")) : c.name]
      partition      = try(t.partition, null)
      partition_type = try(t.partition.type, "DAY")
      expiration_ms  = try(t.partition.expiration_days, null) == null ? null : t.partition.expiration_days * 86400000
      clustering     = try(t.clustering, [])
      labels         = try(t.labels, {})
    }
  }

  views = {
    for v in flatten([for f in local.fragments : try(f.views, [])]) : v.name => {
      dataset     = v.dataset
      description = try(v.description, "")
      sql_file    = v.sql
      query       = templatefile("${local.resources_dir}/${v.sql}", { project = var.project_id })
    }
  }

  topics = {
    for t in flatten([for f in local.fragments : try(f.topics, [])]) : t.name => {
      labels    = try(t.labels, {})
      retention = try(t.message_retention_duration, "604800s")
    }
  }

  subscriptions = {
    for s in flatten([for f in local.fragments : try(f.subscriptions, [])]) : s.name => {
      topic                 = s.topic
      push_function         = try(s.push_function, null)
      dead_letter_topic     = try(s.dead_letter_topic, null)
      max_delivery_attempts = try(s.max_delivery_attempts, 5)
      ack_deadline_seconds  = try(s.ack_deadline_seconds, 60)
      min_backoff           = "${try(s.min_backoff_s, 10)}s"
      max_backoff           = "${try(s.max_backoff_s, 600)}s"
      filter                = try(s.filter, null)
      ordering              = try(s.enable_message_ordering, false)
    }
  }

  # Dead-letter topics need a subscription of their own, or dead-lettered messages are lost. A
  # fragment may declare it (webhooks: "<topic>-hold", refresh/quotas: "<topic>-pull"); Terraform
  # adds a pull subscription "<topic>-hold" (7 days, for replay) only to the dead-letter topics
  # that have none, so no name is ever created twice.
  dead_letter_topics = toset(compact([for s in local.subscriptions : s.dead_letter_topic]))
  subscribed_topics  = toset([for s in local.subscriptions : s.topic])
  hold_subscriptions = {
    for t in local.dead_letter_topics : "${t}-hold" => t if !contains(local.subscribed_topics, t)
  }
  # Every subscription that holds dead letters (alerted on when its backlog grows).
  dead_letter_subscriptions = sort(concat(
    [for name, s in local.subscriptions : name if contains(local.dead_letter_topics, s.topic)],
    keys(local.hold_subscriptions),
  ))

  buckets = {
    for b in flatten([for f in local.fragments : try(f.buckets, [])]) : b.key => {
      name   = replace(b.name, "$${project}", var.project_id)
      labels = try(b.labels, {})
      # Lifecycle by media class (shared/uploads/media_classes.py reads the same entries): GCS
      # matches only prefixes and suffixes and the class is a middle path segment, so a class
      # is recognised by its file extensions (both cases). One rule per class and step.
      media_lifecycle = flatten([
        for c in try(b.media_classes, []) : [
          for step in [
            { storage_class = "NEARLINE", age = try(c.lifecycle.nearline_days, 0), from = ["STANDARD"] },
            { storage_class = "COLDLINE", age = try(c.lifecycle.coldline_days, 0), from = ["STANDARD", "NEARLINE"] },
            { storage_class = "ARCHIVE", age = try(c.lifecycle.archive_days, 0), from = ["STANDARD", "NEARLINE", "COLDLINE"] },
            ] : merge(step, {
              media_class = c.name
              suffixes    = sort(distinct(concat([for e in c.extensions : ".${lower(e)}"], [for e in c.extensions : ".${upper(e)}"])))
          }) if step.age > 0
        ]
      ])
    }
  }

  schedules = {
    for s in flatten([for f in local.fragments : try(f.schedules, [])]) : s.name => {
      cron      = s.cron
      time_zone = try(s.time_zone, "UTC")
      topic     = s.topic
      # Same bytes as devstack/ticker.py message_of(): compact JSON with sorted keys.
      data       = base64encode(jsonencode(try(s.data, {})))
      attributes = merge({ schedule = s.name }, { for k, v in try(s.attributes, {}) : k => tostring(v) })
    }
  }

  # Core settings (shared/settings.py ENV_VARS minus the emulator hosts, which must never be set
  # in the cloud) + each function's own `env`.
  core_env = {
    PROJECT_ID        = var.project_id
    APP_ENV           = var.environment
    BIGQUERY_LOCATION = var.bigquery_location
    LOG_LEVEL         = var.log_level
  }

  # The customer-credentials key (secrets.tf) by name: a function whose manifest says
  # access.kms = true gets it as CREDENTIALS_KMS_KEY (shared/quotas/settings.py) beside its
  # grant on that key (iam.tf); tests/unit/terraform/test_kms.py keeps the name in step.
  credentials_kms_key = "projects/${var.project_id}/locations/${var.region}/keyRings/event-plumbing-${var.environment}/cryptoKeys/customer-credentials"

  queues = {
    for q in flatten([for f in local.fragments : try(f.queues, [])]) : q.name => {
      max_attempts  = try(q.max_attempts, 3)
      min_backoff   = "${try(q.min_backoff_s, 60)}s"
      max_backoff   = "${try(q.max_backoff_s, 3600)}s"
      max_doublings = try(q.max_doublings, 16)
      publishes     = q.publishes
    }
  }

  ingress_settings = {
    all                 = "ALLOW_ALL"
    internal            = "ALLOW_INTERNAL_ONLY"
    "internal-and-gclb" = "ALLOW_INTERNAL_AND_GCLB"
  }
  http_ingress = var.http_behind_load_balancer ? "internal-and-gclb" : "all"

  functions = {
    for f in flatten([for fr in local.fragments : try(fr.functions, [])]) : f.name => {
      source       = f.source
      entry_point  = f.entry_point
      signature    = try(f.signature, "cloudevent")
      trigger_type = try(f.trigger.type, "http")
      bucket       = try(f.trigger.bucket, null)
      events       = try(f.trigger.events, ["finalized"])
      subscription = try(f.trigger.subscription, null)
      concurrency  = try(f.concurrency, 8)
      memory       = try(f.memory, "512Mi")
      # Cloud Run refuses concurrency > 1 below 1 vCPU ("Total cpu < 1 is not supported with
      # concurrency > 1"), and 512Mi alone derives 0.333: such a function states at least 1.
      cpu           = try(f.cpu, try(f.concurrency, 8) > 1 ? "1" : null)
      timeout_s     = try(f.timeout_s, 540)
      min_instances = try(f.min_instances, 0)
      max_instances = try(f.max_instances, 10)
      # manifest `ingress`: all | internal | internal-and-gclb. Default: HTTP functions "all"
      # (or "internal-and-gclb" with var.http_behind_load_balancer), others "internal".
      ingress = local.ingress_settings[try(f.ingress, try(f.trigger.type, "http") != "http" ? "internal" : local.http_ingress)]
      # THREADS: functions-framework's gunicorn serves cpu_count * 4 requests at once unless
      # told; the stack sets it to the concurrency too (devstack/stack.py).
      env = merge(local.core_env, { THREADS = tostring(try(f.concurrency, 8)) }, {
        for k, v in try(f.env, {}) : k => replace(replace(tostring(v), "$${project}", var.project_id), "$${region}", var.region)
      }, try(f.access.kms, false) ? { CREDENTIALS_KMS_KEY = local.credentials_kms_key } : {})
      secrets   = { for name in try(f.secrets, []) : name => lower(replace(name, "_", "-")) }
      publishes = try(f.publishes, [])
      access = {
        bigquery_write = try(f.access.bigquery_write, [])
        bigquery_read  = try(f.access.bigquery_read, [])
        storage_read   = try(f.access.storage_read, [])
        publish        = distinct(concat(try(f.access.publish, []), try(f.publishes, [])))
        kms            = try(f.access.kms, false)
        firestore      = try(f.access.firestore, false)
      }
    }
  }

  # Every Secret Manager secret any function reads (env var name => secret id).
  secrets = merge([for f in local.functions : f.secrets]...)

  # Storage-triggered functions: the function's own event trigger takes the first event type;
  # each further one (e.g. "deleted") gets its own Eventarc trigger to the same service.
  extra_storage_events = {
    for pair in flatten([
      for name, f in local.functions : [
        for event in slice(f.events, 1, length(f.events)) : { function = name, event = event }
      ] if f.trigger_type == "storage"
    ]) : "${pair.function}-${pair.event}" => pair
  }

  # Customer tables: every table with a customer_id column gets row-level access policies.
  customer_tables = { for name, t in local.tables : name => t if contains(t.columns, "customer_id") }

  labels = {
    app         = "gcp-event-plumbing"
    environment = var.environment
    managed-by  = "terraform"
  }
}
