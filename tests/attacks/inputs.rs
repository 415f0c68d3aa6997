//! Attacks through action inputs: idempotency-key reuse, oversized answers, fan-out.
