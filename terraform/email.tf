# Staff inbox email (server/mail.py, server/delivery.py): an SES domain identity the app sends from, and a
# configuration set that requires TLS for every message. The task role may send only as that identity and only
# through that configuration set (iam.tf); the app refuses to send without it (SES_CONFIGURATION_SET).
# Publish the DKIM records (output staff_email_dkim_records; created in Route 53 when route53_zone_id is set) and
# move the account out of the SES sandbox before practices are onboarded.

locals {
  staff_email_sender = "${var.staff_email_local_part}@${var.staff_email_domain}"
}

resource "aws_sesv2_configuration_set" "staff" {
  configuration_set_name = "${var.name}-staff-inbox"

  delivery_options {
    tls_policy = "REQUIRE" # PHI in a staff email never travels in clear text
  }

  reputation_options {
    reputation_metrics_enabled = true
  }

  sending_options {
    sending_enabled = true
  }

  suppression_options {
    suppressed_reasons = ["BOUNCE", "COMPLAINT"]
  }
}

resource "aws_sesv2_email_identity" "staff" {
  email_identity         = var.staff_email_domain
  configuration_set_name = aws_sesv2_configuration_set.staff.configuration_set_name
}

resource "aws_route53_record" "staff_email_dkim" {
  count = var.route53_zone_id == null ? 0 : 3 # SES Easy DKIM publishes three tokens

  zone_id = var.route53_zone_id
  name    = "${aws_sesv2_email_identity.staff.dkim_signing_attributes[0].tokens[count.index]}._domainkey.${var.staff_email_domain}"
  type    = "CNAME"
  ttl     = 1800
  records = ["${aws_sesv2_email_identity.staff.dkim_signing_attributes[0].tokens[count.index]}.dkim.amazonses.com"]
}
