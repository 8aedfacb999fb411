/* The phone screens' browser-side helpers (layouts/grid.py): the position comes from the browser, not the server. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
    ops_phone: {
        /* Ask the browser for its position; the answer (or why not) lands in the store `storeId` via set_props. */
        locate: function (n, storeId) {
            if (!n) { return window.dash_clientside.no_update; }
            const put = (data) => window.dash_clientside.set_props(storeId, {data: data});
            if (!navigator.geolocation) {
                put({error: "此浏览器不支持定位，请在地图上点选所在网格"});
                return "正在定位…";
            }
            navigator.geolocation.getCurrentPosition(
                (p) => put({lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy, source: "gps"}),
                (e) => put({error: e.code === 1 ? "未获得定位权限，请在地图上点选所在网格" : "定位失败，请在地图上点选所在网格"}),
                {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
            return "正在定位…";
        },
    },
});
