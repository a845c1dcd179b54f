/**
 * pshub relay for Oracle NetSuite: posts customer changes, and the invoices a customer payment
 * settles or reduces, to pshub as Standard Webhooks (docs/relays.md).
 *
 * Deploy as a User Event script on Customer and on Customer Payment (afterSubmit), with the
 * script parameters below. The signing secret is a NetSuite API Secret (Setup > Company >
 * API Secrets) holding the base64 part of the whsec_ secret (without the "whsec_" prefix),
 * restricted to this script; its id is the custscript_pshub_secret_id parameter. NetSuite never
 * shows the secret to the script: it is used through crypto.createSecretKey and createHmac.
 * This script is a sample to adapt and test in a sandbox account; pshub's tests check the
 * messages it describes (events/netsuite/), not the script itself.
 *
 * A failed post is retried by NetSuite's next run of the map/reduce "pshub resend" script (not
 * shown), which reads the custom record customrecord_pshub_outbox this script writes on failure.
 *
 * @NApiVersion 2.1
 * @NScriptType UserEventScript
 */
define(['N/https', 'N/crypto', 'N/encode', 'N/runtime', 'N/search', 'N/record', 'N/log'],
  (https, crypto, encode, runtime, search, record, log) => {
    const PARAM_URL = 'custscript_pshub_url'; // https://<api>/webhooks/netsuite-acme
    const PARAM_SECRET = 'custscript_pshub_secret_id'; // the API Secret's id

    const iso = (value) => (value ? new Date(value).toISOString() : new Date().toISOString());

    function sign(messageId, timestamp, body) {
      const secretId = runtime.getCurrentScript().getParameter({ name: PARAM_SECRET });
      // The API Secret holds the secret's base64; the HMAC key is what it decodes to.
      const key = crypto.createSecretKey({
        secret: secretId,
        encoding: encode.Encoding.BASE_64,
      });
      const hmac = crypto.createHmac({ algorithm: crypto.HashAlg.SHA256, key });
      hmac.update({ input: `${messageId}.${timestamp}.${body}`, inputEncoding: encode.Encoding.UTF_8 });
      return `v1,${hmac.digest({ outputEncoding: encode.Encoding.BASE_64 })}`;
    }

    function post(recordType, id, operation, modified, fields, changed) {
      const accountId = runtime.accountId;
      const modifiedAt = iso(modified);
      const messageId = `ns-${accountId}-${recordType}-${id}-${Date.parse(modifiedAt)}`;
      const body = JSON.stringify({
        type: `netsuite.${recordType}.${operation}`,
        timestamp: modifiedAt,
        data: {
          event_id: messageId, record_type: recordType, id: String(id), operation,
          modified_at: modifiedAt, changed_fields: changed, ...(fields ? { fields } : {}),
        },
      });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const response = https.post({
        url: runtime.getCurrentScript().getParameter({ name: PARAM_URL }),
        body,
        headers: {
          'Content-Type': 'application/json',
          'webhook-id': messageId,
          'webhook-timestamp': timestamp,
          'webhook-signature': sign(messageId, timestamp, body),
        },
      });
      if (response.code < 200 || response.code >= 300) {
        // 401: the secret is wrong (a person must fix it); 5xx: pshub could not store it.
        log.error({ title: 'pshub relay refused', details: `${recordType} ${id}: HTTP ${response.code}` });
        const outbox = record.create({ type: 'customrecord_pshub_outbox' });
        outbox.setValue({ fieldId: 'custrecord_pshub_message_id', value: messageId });
        outbox.setValue({ fieldId: 'custrecord_pshub_body', value: body });
        outbox.save();
      }
    }

    function customerFields(rec) {
      return {
        companyname: rec.getValue('companyname') || null,
        firstname: rec.getValue('firstname') || null,
        lastname: rec.getValue('lastname') || null,
        email: rec.getValue('email') || null,
        url: rec.getValue('url') || null,
        billcountry: rec.getValue('billcountry') || null,
        billcity: rec.getValue('billcity') || null,
      };
    }

    function invoiceFields(invoiceId) {
      const found = search.lookupFields({
        type: search.Type.INVOICE,
        id: invoiceId,
        columns: ['tranid', 'entity', 'currency', 'total', 'amountremaining', 'lastmodifieddate'],
      });
      const currency = record.load({ type: record.Type.CURRENCY, id: found.currency[0].value });
      return {
        modified: found.lastmodifieddate,
        fields: {
          tranid: found.tranid,
          entity: found.entity[0].value,
          currency: currency.getValue('symbol'), // the ISO 4217 code
          total: Number(found.total).toFixed(currency.getValue('currencyprecision')),
          amountremaining: Number(found.amountremaining).toFixed(currency.getValue('currencyprecision')),
        },
      };
    }

    const afterSubmit = (context) => {
      const { newRecord, oldRecord, type } = context;
      const T = context.UserEventType;
      if (newRecord.type === record.Type.CUSTOMER || (oldRecord && oldRecord.type === record.Type.CUSTOMER)) {
        if (type === T.DELETE) {
          post('customer', oldRecord.id, 'delete', new Date(), null, []);
        } else if (type === T.CREATE || type === T.EDIT || type === T.XEDIT) {
          const rec = record.load({ type: record.Type.CUSTOMER, id: newRecord.id });
          const fields = customerFields(rec);
          const changed = oldRecord
            ? Object.keys(fields).filter((k) => String(oldRecord.getValue(k) || '') !== String(fields[k] || ''))
            : Object.keys(fields);
          post('customer', rec.id, type === T.CREATE ? 'create' : 'update',
            rec.getValue('lastmodifieddate'), fields, changed);
        }
        return;
      }
      if (newRecord.type === record.Type.CUSTOMER_PAYMENT && type !== T.DELETE) {
        const lines = newRecord.getLineCount({ sublistId: 'apply' });
        for (let line = 0; line < lines; line += 1) {
          if (!newRecord.getSublistValue({ sublistId: 'apply', fieldId: 'apply', line })) continue;
          const invoiceId = newRecord.getSublistValue({ sublistId: 'apply', fieldId: 'internalid', line });
          const invoice = invoiceFields(invoiceId);
          post('invoice', invoiceId, 'update', invoice.modified, invoice.fields, ['amountremaining']);
        }
      }
    };

    return { afterSubmit };
  });
