import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { parseDuration } from '../../api/duration.ts';
import { promqlDuration, renderQuery, variablesUsed, type TemplateVariables } from './render.ts';

const vars: TemplateVariables = {
  values: { namespace: 'shop', target: 'podinfo', service: 'podinfo', ingress: undefined, interval: '60s', route: '/api' },
  why: { ingress: 'the Canary has no spec.ingressRef' },
};
const source = { source: 'MetricTemplate shop/errors' };

function specInvalid(pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SluiceError, `expected a SluiceError, got ${String(error)}`);
    assert.equal(error.code, ErrorCodes.SpecInvalid);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('renderQuery', () => {
  it('fills in variables with or without spaces, and templateVariables in both syntaxes', () => {
    const out = renderQuery('x{namespace="{{namespace}}",pod=~"{{ target }}-.*",path="{{ route }}",p2="{{ variables.route }}"}[{{ interval }}]', vars, source);
    assert.equal(out, 'x{namespace="shop",pod=~"podinfo-.*",path="/api",p2="/api"}[60s]');
  });

  it('rejects an unknown variable by name, listing the known ones, instead of rendering an empty string', () => {
    assert.throws(() => renderQuery('sum(x{ns="{{ namespace }}",app="{{ app }}"})', vars, source), (error: unknown) => {
      specInvalid(/MetricTemplate shop\/errors: query template has unknown variable \{\{ app \}\}/)(error);
      assert.match((error as SluiceError).hint ?? '', /known variables: .*\{\{ namespace \}\}.*\{\{ route \}\}/);
      return true;
    });
  });

  it('names every unknown variable once', () => {
    assert.throws(
      () => renderQuery('{{ a }} {{ b }} {{ a }} {{ variables.c }}', vars, source),
      specInvalid(/unknown variables \{\{ a \}\}, \{\{ b \}\}, \{\{ c \}\}/),
    );
  });

  it('rejects a known variable without a value, saying why', () => {
    assert.throws(
      () => renderQuery('x{ingress="{{ ingress }}"}', vars, source),
      specInvalid(/variable \{\{ ingress \}\} has no value \(the Canary has no spec.ingressRef\)/),
    );
  });

  it('rejects malformed and unclosed expressions', () => {
    assert.throws(() => renderQuery('x{a="{{ .Namespace }}"}', vars, source), specInvalid(/malformed expression \{\{ \.Namespace \}\}/));
    assert.throws(() => renderQuery('x{a="{{ namespace | upper }}"}', vars, source), specInvalid(/malformed expression/));
    assert.throws(() => renderQuery('x{a="{{ namespace }"}', vars, source), specInvalid(/never closed/));
  });

  it('leaves PromQL braces alone', () => {
    assert.equal(renderQuery('sum(rate(x{a="b"}[1m])) by (le)', vars, source), 'sum(rate(x{a="b"}[1m])) by (le)');
  });

  it('lists the variables a template uses', () => {
    assert.deepEqual(variablesUsed('{{ a }}{{b}} {{ a }}'), ['a', 'b']);
  });
});

describe('durations', () => {
  it('parses Go durations', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.throws(() => parseDuration('5 minutes'), specInvalid(/"5 minutes" is not a duration/));
  });

  it('renders PromQL ranges PromQL accepts', () => {
    assert.equal(promqlDuration('1m'), '60s');
    assert.equal(promqlDuration('1.5m'), '90s');
    assert.equal(promqlDuration('1500ms'), '1500ms');
    assert.throws(() => promqlDuration('0s'), specInvalid(/longer than zero/));
  });
});
