# Datasets, tables (schemas from shared/resources/schemas), views (SQL from
# shared/resources/views with ${project} substituted) and row-level access on customer tables.

locals {
  # dataset id => [{role, function}] from the manifest's access lists (write implies read).
  dataset_function_access = {
    for id, _ in local.datasets : id => concat(
      [for name, f in local.functions : { role = "WRITER", function = name } if contains(f.access.bigquery_write, id)],
      [for name, f in local.functions : { role = "READER", function = name } if contains(f.access.bigquery_read, id) && !contains(f.access.bigquery_write, id)],
    )
  }
  # People who read customer tables: table-level dataViewer on those tables only (the row
  # access policies then filter the rows); never the datasets, which hold raw payloads too.
  customer_table_readers = {
    for pair in flatten([
      for table in keys(local.customer_tables) : [
        for principal in distinct(concat(var.warehouse_readers, keys(var.tenant_readers))) : {
          key = "${table}/${substr(sha256(principal), 0, 12)}", table = table, principal = principal
        }
      ]
    ]) : pair.key => pair
  }
}

resource "google_bigquery_dataset" "this" {
  for_each    = local.datasets
  dataset_id  = each.key
  project     = var.project_id
  location    = var.bigquery_location
  description = try(each.value.description, "")
  labels      = merge(local.labels, try(each.value.labels, {}))

  default_encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }

  # The dataset ACL, authoritative: without access blocks BigQuery adds projectReaders (every
  # project viewer, e.g. a CI planner with roles/viewer) as READER of every table, raw webhook
  # payloads and dead letters included. Owners keep OWNER; each function gets exactly the
  # manifest's bigquery_write (WRITER) / bigquery_read (READER). People read customer tables
  # through table-level grants + row access policies below, never the whole dataset.
  # Do not add google_bigquery_dataset_iam_* or google_bigquery_dataset_access resources: they
  # would fight these blocks on every apply. terraform/checks/policies enforces both.
  access {
    role          = "OWNER"
    special_group = "projectOwners"
  }

  dynamic "access" {
    for_each = local.dataset_function_access[each.key]
    content {
      role          = access.value.role
      user_by_email = google_service_account.function[access.value.function].email
    }
  }

  delete_contents_on_destroy = !var.deletion_protection
  depends_on                 = [google_kms_crypto_key_iam_member.bq_key]
}

resource "google_bigquery_table" "this" {
  for_each            = local.tables
  dataset_id          = google_bigquery_dataset.this[each.value.dataset].dataset_id
  table_id            = each.key
  project             = var.project_id
  description         = each.value.description
  schema              = each.value.schema
  clustering          = length(each.value.clustering) > 0 ? each.value.clustering : null
  labels              = merge(local.labels, { dataset = each.value.dataset }, each.value.labels)
  deletion_protection = var.deletion_protection

  dynamic "time_partitioning" {
    for_each = each.value.partition == null ? [] : [each.value.partition]
    content {
      type          = each.value.partition_type
      field         = try(time_partitioning.value.field, null)
      expiration_ms = each.value.expiration_ms
    }
  }

  encryption_configuration {
    kms_key_name = google_kms_crypto_key.bigquery.id
  }
}

resource "google_bigquery_table" "view" {
  #checkov:skip=CKV_GCP_80:A view stores no data (its query runs against the CMEK-encrypted base tables); BigQuery rejects encryption_configuration on views.
  for_each            = local.views
  dataset_id          = google_bigquery_dataset.this[each.value.dataset].dataset_id
  table_id            = each.key
  project             = var.project_id
  description         = each.value.description
  labels              = merge(local.labels, { dataset = each.value.dataset })
  deletion_protection = var.deletion_protection

  view {
    query          = each.value.query
    use_legacy_sql = false
  }

  depends_on = [google_bigquery_table.this]
}

# Row-level security on every table with a customer_id column: the functions and the
# warehouse readers see all rows, each tenant principal only its customers' rows. Once a table
# has any row access policy, principals covered by none see no rows at all.
resource "google_bigquery_row_access_policy" "all_rows" {
  for_each   = local.customer_tables
  project    = var.project_id
  dataset_id = google_bigquery_table.this[each.key].dataset_id
  table_id   = google_bigquery_table.this[each.key].table_id
  policy_id  = "all_rows"
  grantees = concat(
    [for name, _ in local.functions : "serviceAccount:${google_service_account.function[name].email}"],
    var.warehouse_readers,
  )
  filter_predicate = "TRUE"
}

resource "google_bigquery_row_access_policy" "tenant" {
  for_each = {
    for pair in flatten([
      for table in keys(local.customer_tables) : [
        for principal, customers in var.tenant_readers : {
          key = "${table}/${substr(sha256(principal), 0, 12)}", table = table, principal = principal, customers = customers
        }
      ]
    ]) : pair.key => pair
  }
  project          = var.project_id
  dataset_id       = google_bigquery_table.this[each.value.table].dataset_id
  table_id         = google_bigquery_table.this[each.value.table].table_id
  policy_id        = "tenant_${substr(sha256(each.value.principal), 0, 12)}"
  grantees         = [each.value.principal]
  filter_predicate = "customer_id IN (${join(", ", [for c in each.value.customers : format("'%s'", replace(c, "'", ""))])})"
}

resource "google_bigquery_table_iam_member" "customer_table_readers" {
  for_each   = local.customer_table_readers
  project    = var.project_id
  dataset_id = google_bigquery_table.this[each.value.table].dataset_id
  table_id   = google_bigquery_table.this[each.value.table].table_id
  role       = "roles/bigquery.dataViewer"
  member     = each.value.principal
}
