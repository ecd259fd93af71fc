/**
 * The Activity page's charts, drawn by Chart.js (served from node_modules) from the JSON block
 * the server wrote into the page. An external script, so the console's CSP allows no inline code.
 */
export const ACTIVITY_SCRIPT = `(function () {
  var data = JSON.parse(document.getElementById('activity-data').textContent);
  var colors = { sent: '#1e7b34', failed: '#b42318', unknown: '#9a6700', skipped: '#9aa5b1' };
  function stacked(id, series) {
    new Chart(document.getElementById(id), {
      type: 'bar',
      data: { labels: data.days, datasets: ['sent', 'failed', 'unknown', 'skipped'].map(function (s) { return { label: s, data: series[s], backgroundColor: colors[s] }; }) },
      options: { animation: false, maintainAspectRatio: false, scales: { x: { stacked: true, ticks: { maxTicksLimit: 8 } }, y: { stacked: true, beginAtZero: true } } }
    });
  }
  stacked('chart-license', data.series.license);
  stacked('chart-maintenance', data.series.maintenance);
  new Chart(document.getElementById('chart-forecast'), {
    type: 'bar',
    data: { labels: data.forecast.map(function (d) { return d.date; }), datasets: [
      { label: 'annual license emails', data: data.forecast.map(function (d) { return d.license; }), backgroundColor: '#1a56b0' },
      { label: 'maintenance emails', data: data.forecast.map(function (d) { return d.maintenance; }), backgroundColor: '#7c5cbf' }
    ] },
    options: { animation: false, maintainAspectRatio: false, scales: { x: { stacked: true, ticks: { maxTicksLimit: 8 } }, y: { stacked: true, beginAtZero: true } } }
  });
  document.body.setAttribute('data-charts', 'drawn');
})();
`;

/**
 * The Outcomes page's chart: per kind × offset × locale × version × arm, the series renewed before
 * expiry, within 30 days after, and not renewed, from the JSON block the server wrote.
 */
export const OUTCOMES_SCRIPT = `(function () {
  var data = JSON.parse(document.getElementById('outcomes-data').textContent);
  var canvas = document.getElementById('chart-outcomes');
  if (canvas && data.rows.length > 0) {
    var labels = data.rows.map(function (r) { return r.kind + ' ' + r.offset + ' ' + r.locale + ' ' + r.templateVersion + ' ' + r.arm; });
    var series = [
      ['renewedBeforeExpiry', 'renewed before expiry', '#1e7b34'],
      ['renewedAfterExpiry', 'renewed within 30 days after', '#7fbf7f'],
      ['notRenewed', 'not renewed', '#b42318']
    ];
    new Chart(canvas, {
      type: 'bar',
      data: { labels: labels, datasets: series.map(function (s) { return { label: s[1], data: data.rows.map(function (r) { return r[s[0]]; }), backgroundColor: s[2] }; }) },
      options: { animation: false, maintainAspectRatio: false, indexAxis: 'y', scales: { x: { stacked: true, beginAtZero: true, title: { display: true, text: 'series' } }, y: { stacked: true } } }
    });
  }
  document.body.setAttribute('data-charts', 'drawn');
})();
`;
