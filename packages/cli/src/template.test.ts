import { strict as assert } from 'node:assert';
import { UsageError } from './args';
import { Template, template } from './template';

describe("--format (docker's Go-template subset)", () => {
  const fields = { ID: 'CONTAINER ID', Names: 'NAMES', Labels: 'LABELS' };
  const rows = [
    { ID: 'a1', Names: 'web', Labels: 'x=1' },
    { ID: 'b22222222222', Names: 'db', Labels: '' },
  ];

  it('prints fields, JSON of a field or of the row, with \\t and \\n as docker replaces them', () => {
    assert.equal(new Template('{{.Names}}', fields).render(rows), 'web\ndb\n');
    assert.equal(new Template('{{.ID}}\\t{{ .Names }}!', fields).render(rows), 'a1\tweb!\nb22222222222\tdb!\n');
    assert.equal(new Template('{{json .Names}}', fields).render(rows), '"web"\n"db"\n');
    assert.deepEqual(JSON.parse(new Template('{{json .}}', fields).render(rows.slice(0, 1))), rows[0]);
    assert.equal(new Template('{{.Names}}\\n', fields).render(rows.slice(0, 1)), 'web\n\n');
  });

  it('table: a header of the columns, cells aligned at tabs (at least 10 wide, 3 apart)', () => {
    assert.equal(
      new Template('table {{.ID}}\\t{{.Names}}', fields).render(rows),
      'CONTAINER ID   NAMES\na1             web\nb22222222222   db\n',
    );
    assert.equal(new Template('table {{.Names}}\\t{{.ID}}', fields).render([rows[1]!]), 'NAMES     CONTAINER ID\ndb        b22222222222\n');
  });

  it('nested fields and values as Go prints them (inspect has no fixed fields)', () => {
    const c = { State: { Pid: 42, Running: true }, Args: ['sh', '-c'], Labels: { b: '2', a: '1' }, Gone: null };
    const t = (f: string) => new Template(f).render([c]);
    assert.equal(t('{{.State.Pid}} {{.State.Running}}'), '42 true\n');
    assert.equal(t('{{.Args}} {{.Labels}} {{.Gone}}'), '[sh -c] map[a:1 b:2] <no value>\n');
    assert.equal(t('{{json .State}}'), '{"Pid":42,"Running":true}\n');
    assert.throws(() => t('{{.State.Nope}}'), /^UsageError: template: can't evaluate field State\.Nope$/);
  });

  it('refuses an unknown field and what the subset does not have, before anything runs', () => {
    const refused = (format: string, message: RegExp) =>
      assert.throws(
        () => new Template(format, fields),
        (e: unknown) => e instanceof UsageError && message.test(e.message),
        format,
      );
    refused('{{.Bogus}}', /^template: can't evaluate field Bogus \(fields: ID, Names, Labels\)$/);
    refused('{{.Names | upper}}', /unsupported action \{\{\.Names \| upper\}\}/);
    refused('{{range .}}x{{end}}', /unsupported action \{\{range \.\}\}/);
    refused('{{.}}', /unsupported action/);
    refused('{{.Names', /unclosed action/);
  });

  it("json and table alone are each command's own output", () => {
    for (const f of [undefined, 'json', 'table', 'table ']) assert.equal(template(f, fields), undefined, String(f));
    assert.ok(template('{{.ID}}', fields));
  });
});
